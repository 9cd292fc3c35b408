//! The stable category ids, each tied to the clause of the security responsibility letter
//! (信息源入网安全责任书) it enforces. Reviewers, dashboards and exports group by these ids,
//! so they never change meaning; new ones may be added.

use crate::finding::Severity;

/// A category id and the clause it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Category {
    pub id: &'static str,
    pub clause: &'static str,
    /// Whether the provider ships terms for it, or the operator supplies a lexicon.
    pub operator_supplied: bool,
    pub description: &'static str,
    /// The severity of a confident flag in this category (a weights file may change it).
    pub severity: Severity,
}

const fn shipped(id: &'static str, clause: &'static str, description: &'static str) -> Category {
    Category {
        id,
        clause,
        operator_supplied: false,
        description,
        severity: Severity::High,
    }
}

const fn operator(id: &'static str, clause: &'static str, description: &'static str) -> Category {
    Category {
        id,
        clause,
        operator_supplied: true,
        description,
        severity: Severity::High,
    }
}

/// Categories whose confident flags are more (or less) urgent than `high`.
const fn with_severity(category: Category, severity: Severity) -> Category {
    Category {
        severity,
        ..category
    }
}

pub const CATEGORIES: &[Category] = &[
    operator("constitution", "§2(1)", "反对宪法所确定的基本原则的"),
    operator(
        "state_security",
        "§2(2)",
        "危害国家安全，泄露国家秘密，颠覆国家政权，破坏国家统一的",
    ),
    operator("national_honor", "§2(3)", "损害国家荣誉和利益的"),
    operator(
        "ethnic_hatred",
        "§2(4)",
        "煽动民族仇恨、民族歧视，破坏民族团结的",
    ),
    operator(
        "religion_cults",
        "§2(5)",
        "破坏国家宗教政策，宣扬邪教和封建迷信的",
    ),
    operator("rumors", "§2(6)", "散布谣言，扰乱社会秩序，破坏社会稳定的"),
    shipped("pornography", "§2(7)", "淫秽、色情"),
    shipped("gambling", "§2(7)", "赌博"),
    shipped("violence_terror", "§2(7)", "暴力、凶杀、恐怖或者教唆犯罪"),
    shipped("weapons", "§2(7)", "枪支、爆炸物、管制刀具的买卖"),
    shipped("drugs", "§2(7)", "毒品及易制毒化学品的买卖"),
    shipped(
        "fake_documents",
        "§2(7)",
        "办证、代开发票、银行卡及账户买卖",
    ),
    operator("defamation", "§2(8)", "侮辱或者诽谤他人的"),
    shipped("fraud", "§2(9)", "诈骗：刷单、套现、虚假投资、假冒商品"),
    with_severity(
        shipped("infringement", "§2(9)", "侵害他人合法权益：盗版软件与影视"),
        Severity::Medium,
    ),
    shipped("malware", "§2(10)", "病毒、木马、挖矿脚本、恶意跳转"),
    shipped("phishing", "§2(10)", "钓鱼页面与钓鱼表单"),
    shipped(
        "cloaking",
        "§2(10)",
        "对搜索引擎蜘蛛或搜索来访者展示不同内容：蜘蛛劫持、快照劫持、搜索来路跳转",
    ),
    operator(
        "other_prohibited",
        "§2(11)",
        "含有法律、行政法规禁止的其他内容的",
    ),
    shipped("prohibited_links", "§3", "为淫秽色情等网站提供链接和推广"),
    shipped("sex_products", "§3", "非法性用品广告和介绍"),
    with_severity(
        shipped("minors", "§3", "危害青少年身心健康的低俗信息"),
        Severity::Critical,
    ),
];

pub fn find(id: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.id == id)
}

/// `§2(7)`, `§3`, `§2(8)/(9)` ...: the shape a clause reference must have.
pub fn is_valid_clause(clause: &str) -> bool {
    let Some(rest) = clause.strip_prefix('§') else {
        return false;
    };
    let mut parts = rest.split('/');
    let Some(first) = parts.next() else {
        return false;
    };
    let (number, item) = match first.split_once('(') {
        Some((n, i)) => (n, Some(i)),
        None => (first, None),
    };
    let valid_item = |s: &str| {
        s.strip_suffix(')')
            .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if item.is_some_and(|i| !valid_item(i)) {
        return false;
    }
    parts.all(|p| p.strip_prefix('(').is_some_and(valid_item))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_snake_case_and_clauses_valid() {
        for (i, c) in CATEGORIES.iter().enumerate() {
            assert!(
                c.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                c.id
            );
            assert!(is_valid_clause(c.clause), "{}", c.clause);
            assert!(
                CATEGORIES[i + 1..].iter().all(|d| d.id != c.id),
                "{} twice",
                c.id
            );
        }
    }

    #[test]
    fn every_item_of_clause_two_has_a_category() {
        for item in 1..=11 {
            let clause = format!("§2({item})");
            assert!(
                CATEGORIES.iter().any(|c| c.clause == clause),
                "no category for {clause}"
            );
        }
    }

    #[test]
    fn clause_shapes() {
        for ok in ["§2(7)", "§3", "§2(8)/(9)", "§10"] {
            assert!(is_valid_clause(ok), "{ok}");
        }
        for bad in ["2(7)", "§", "§2(", "§2()", "§a", "§2(7)/9", "§2(7x)"] {
            assert!(!is_valid_clause(bad), "{bad}");
        }
    }
}
