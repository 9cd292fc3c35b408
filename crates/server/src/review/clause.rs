//! Clause references as a Chinese legal letter cites them.
//!
//! Rules and checks name the clause of the security responsibility letter they enforce in a
//! compact form (`§2(7)`, `§3`, `§2(8)/(9)`: see `sitepatrol_core::rules::categories`). A
//! notice to a customer cites it the way Chinese legal text does: article (条) and item (项)
//! in Chinese numerals, the item in full-width parentheses: `§2(7)` is 第二条第（七）项.
//! Writing "第§2(7)条" mixes both and reads as a typo in a legal letter.

/// `clause` cited in Chinese legal style: `§3` → 第三条, `§2(7)` → 第二条第（七）项,
/// `§2(8)/(9)` → 第二条第（八）项、第（九）项. A reference of another form is returned
/// unchanged: an operator's own clause id is better quoted as written than mangled.
pub fn cite(clause: &str) -> String {
    parse(clause.trim())
        .map(|(article, items)| {
            let mut out = format!("第{}条", numeral(article));
            let items: Vec<String> = items
                .iter()
                .map(|item| format!("第（{}）项", numeral(*item)))
                .collect();
            out.push_str(&items.join("、"));
            out
        })
        .unwrap_or_else(|| clause.to_string())
}

/// `§N`, `§N(M)` and `§N(M)/(K)...` as the article and its items; `None` for anything else.
fn parse(clause: &str) -> Option<(u32, Vec<u32>)> {
    let rest = clause.strip_prefix('§')?;
    let mut parts = rest.split('/');
    let first = parts.next()?;
    let (article, first_item) = match first.split_once('(') {
        Some((article, item)) => (article, Some(item)),
        None => (first, None),
    };
    let article = number(article)?;
    let item = |text: &str| number(text.strip_suffix(')')?);
    let mut items = Vec::new();
    if let Some(text) = first_item {
        items.push(item(text)?);
    }
    for part in parts {
        // A second item needs a first: `§2/(9)` is not a form the rules use.
        if items.is_empty() {
            return None;
        }
        items.push(item(part.strip_prefix('(')?)?);
    }
    Some((article, items))
}

/// A positive decimal number of at most three digits (articles and items are small; a long
/// run of digits is no clause).
fn number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| *n > 0)
}

/// 1..=999 in Chinese numerals as legal text writes them: 七, 十, 十一, 二十, 一百零五.
fn numeral(n: u32) -> String {
    const DIGITS: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    let (hundreds, tens, ones) = (n / 100, n / 10 % 10, n % 10);
    let mut out = String::new();
    if hundreds > 0 {
        out.push_str(DIGITS[hundreds as usize % 10]);
        out.push('百');
        if tens == 0 && ones > 0 {
            out.push('零');
        }
    }
    if tens > 0 {
        // 十一, not 一十一, standing alone; 一百一十 within hundreds.
        if tens > 1 || hundreds > 0 {
            out.push_str(DIGITS[tens as usize]);
        }
        out.push('十');
    }
    if ones > 0 {
        out.push_str(DIGITS[ones as usize]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_and_items_in_chinese_legal_style() {
        for (clause, cited) in [
            ("§2(7)", "第二条第（七）项"),
            ("§2(1)", "第二条第（一）项"),
            ("§2(10)", "第二条第（十）项"),
            ("§2(11)", "第二条第（十一）项"),
            ("§3", "第三条"),
            ("§4", "第四条"),
            ("§5", "第五条"),
            ("§8", "第八条"),
            ("§10", "第十条"),
            ("§20", "第二十条"),
            ("§21", "第二十一条"),
            ("§2(8)/(9)", "第二条第（八）项、第（九）项"),
            ("§105", "第一百零五条"),
            ("§110", "第一百一十条"),
            (" §3 ", "第三条"),
        ] {
            assert_eq!(cite(clause), cited, "{clause}");
        }
    }

    #[test]
    fn every_clause_the_rules_and_checks_carry_is_cited() {
        for c in sitepatrol_core::rules::categories::CATEGORIES {
            let cited = cite(c.clause);
            assert!(
                cited.starts_with('第') && !cited.contains('§'),
                "{} → {cited}",
                c.clause
            );
        }
    }

    #[test]
    fn unknown_forms_pass_through_unchanged() {
        for clause in [
            "2(7)",
            "§",
            "§2(",
            "§2()",
            "§a",
            "§2(7)/9",
            "§2(7x)",
            "§0",
            "§1234",
            "第二条",
            "",
            "§2/(9)",
            "Art. 5",
        ] {
            assert_eq!(cite(clause), clause, "{clause}");
        }
    }
}
