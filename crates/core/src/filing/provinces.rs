//! The province characters that open filing and licence numbers, and the GB/T 2260 codes that
//! open public-security filing numbers, so that each can be checked against the other.
//!
//! Sources: `../shared/docs/filing-formats.md` (characters seen in real numbers, including
//! the variants 蜀/川, 黔/贵, 滇/云, 陇/甘) and GB/T 2260 (province-level codes).

/// A province-level division.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Province {
    /// The canonical one-character abbreviation used in numbers.
    pub abbreviation: char,
    pub name: &'static str,
    /// The first two digits of its GB/T 2260 codes.
    pub code: u8,
}

const fn p(abbreviation: char, name: &'static str, code: u8) -> Province {
    Province {
        abbreviation,
        name,
        code,
    }
}

/// The 31 provinces, regions and municipalities of the mainland.
pub const PROVINCES: [Province; 31] = [
    p('京', "北京", 11),
    p('津', "天津", 12),
    p('冀', "河北", 13),
    p('晋', "山西", 14),
    p('蒙', "内蒙古", 15),
    p('辽', "辽宁", 21),
    p('吉', "吉林", 22),
    p('黑', "黑龙江", 23),
    p('沪', "上海", 31),
    p('苏', "江苏", 32),
    p('浙', "浙江", 33),
    p('皖', "安徽", 34),
    p('闽', "福建", 35),
    p('赣', "江西", 36),
    p('鲁', "山东", 37),
    p('豫', "河南", 41),
    p('鄂', "湖北", 42),
    p('湘', "湖南", 43),
    p('粤', "广东", 44),
    p('桂', "广西", 45),
    p('琼', "海南", 46),
    p('渝', "重庆", 50),
    p('蜀', "四川", 51),
    p('黔', "贵州", 52),
    p('滇', "云南", 53),
    p('藏', "西藏", 54),
    p('陕', "陕西", 61),
    p('陇', "甘肃", 62),
    p('青', "青海", 63),
    p('宁', "宁夏", 64),
    p('新', "新疆", 65),
];

/// Alternative characters seen in real numbers, and the canonical one they stand for.
const VARIANTS: [(char, char); 4] = [('川', '蜀'), ('贵', '黔'), ('云', '滇'), ('甘', '陇')];

/// The province a number's leading character names, if it names one.
pub fn by_char(c: char) -> Option<&'static Province> {
    let canonical = VARIANTS
        .iter()
        .find(|(variant, _)| *variant == c)
        .map_or(c, |(_, canonical)| *canonical);
    PROVINCES.iter().find(|p| p.abbreviation == canonical)
}

/// Every character that can open a number (for regex classes).
pub fn all_chars() -> String {
    PROVINCES
        .iter()
        .map(|p| p.abbreviation)
        .chain(VARIANTS.iter().map(|(v, _)| *v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_one_distinct_provinces_and_codes() {
        for (i, a) in PROVINCES.iter().enumerate() {
            for b in &PROVINCES[i + 1..] {
                assert_ne!(a.abbreviation, b.abbreviation);
                assert_ne!(a.code, b.code);
            }
        }
    }

    #[test]
    fn variants_map_to_their_province() {
        assert_eq!(by_char('川').unwrap().code, 51);
        assert_eq!(by_char('蜀').unwrap().code, 51);
        assert_eq!(by_char('贵').unwrap().name, "贵州");
        assert_eq!(by_char('甘').unwrap().abbreviation, '陇');
        assert_eq!(by_char('京').unwrap().code, 11);
        assert!(by_char('港').is_none());
        assert_eq!(all_chars().chars().count(), 35);
    }
}
