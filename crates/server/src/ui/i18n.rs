//! The UI's text in Chinese and English: one table, so a string cannot exist in one language
//! only (each row has both), and templates look strings up by key (`{{ t.queue }}`). A key a
//! template names but the table lacks fails the render (the environment is strict), which the
//! tests' page loads catch.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The value of `<html lang>`.
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// key, 中文, English.
pub const MESSAGES: &[(&str, &str, &str)] = &[
    ("app", "sitepatrol 内容巡查", "sitepatrol review"),
    ("other_lang", "English", "中文"),
    ("login", "登录", "Log in"),
    ("logout", "退出", "Log out"),
    ("token", "访问令牌", "Access token"),
    (
        "login_hint",
        "请输入管理员发放的令牌（spt_ 开头）。",
        "Enter the token your administrator gave you (it starts with spt_).",
    ),
    ("login_failed", "令牌无效。", "The token is not valid."),
    (
        "rate_limited",
        "失败次数过多，请稍后再试。",
        "Too many failed attempts; try again later.",
    ),
    ("signed_in_as", "当前用户", "Signed in as"),
    ("queue", "待审队列", "Queue"),
    ("filters", "筛选", "Filters"),
    ("apply", "筛选", "Apply"),
    ("reset", "清除", "Reset"),
    ("any", "全部", "Any"),
    ("state", "状态", "State"),
    ("category", "类别", "Category"),
    ("severity", "严重程度", "Severity"),
    ("rule", "规则", "Rule"),
    ("site", "站点", "Site"),
    ("customer", "客户", "Customer"),
    ("url", "网址", "URL"),
    ("matched", "命中内容", "Match"),
    ("created", "发现时间", "Found"),
    ("score", "得分", "Score"),
    ("signals", "信号", "Signals"),
    ("weight", "权重", "Weight"),
    ("contribution", "贡献", "Contribution"),
    ("signals_omitted", "条未列出", "more not listed"),
    ("seen_by", "谁看到", "Seen by"),
    ("counts", "数量统计", "Counts"),
    ("by_category", "按类别", "By category"),
    ("by_severity", "按严重程度", "By severity"),
    ("no_flags", "没有符合条件的记录。", "No flags match."),
    ("next_page", "下一页", "Next page"),
    ("first_page", "第一页", "First page"),
    (
        "shortcuts",
        "快捷键：j/k 上下移动，o 打开，c 确认，d 驳回（需填写理由）",
        "Shortcuts: j/k move, o open, c confirm, d dismiss (asks for the reason)",
    ),
    ("flag", "告警", "Flag"),
    ("evidence", "证据", "Evidence"),
    ("snippet", "上下文", "Context"),
    ("clause", "责任书条款", "Clause"),
    ("description", "说明", "Description"),
    ("zone", "位置", "Zone"),
    ("count", "出现次数", "Occurrences"),
    ("fetched_at", "抓取时间", "Fetched"),
    ("http_status", "HTTP 状态", "HTTP status"),
    ("ip", "服务器地址", "Server address"),
    ("body_sha256", "页面快照 SHA-256", "Page copy SHA-256"),
    (
        "snapshot",
        "查看页面快照（纯文本）",
        "Page copy (plain text)",
    ),
    (
        "screenshot",
        "页面截图（浏览器渲染后）",
        "Screenshot (as a browser rendered it)",
    ),
    ("assignee", "处理人", "Assignee"),
    ("filing", "备案信息", "Filing"),
    ("filing_status", "备案状态", "Filing status"),
    ("filing_checked_at", "备案核查时间", "Filing checked"),
    ("history", "处理记录", "History"),
    ("at", "时间", "Time"),
    ("actor", "操作人", "Actor"),
    ("event", "事件", "Event"),
    ("reason", "理由", "Reason"),
    ("actions", "操作", "Actions"),
    ("confirm", "确认（要求下架）", "Confirm (takedown)"),
    ("dismiss", "驳回（误报）", "Dismiss (false positive)"),
    (
        "dismiss_prompt",
        "驳回理由（为什么是误报）：",
        "Reason for dismissing (why is it a false positive):",
    ),
    ("reopen", "重新打开", "Reopen"),
    ("assign", "指派", "Assign"),
    ("comment", "备注", "Comment"),
    ("notice", "整改通知", "Rectification notice"),
    (
        "customer_notice",
        "整改通知（客户）",
        "Rectification notice (customer)",
    ),
    (
        "customer_notice_hint",
        "该客户全部已确认案件的整改通知，生成记录写入各案件的审计日志",
        "One notice listing all of the customer's confirmed cases; recorded in each case's audit log",
    ),
    ("customer_name", "客户名称", "Customer name"),
    ("contact_email", "联系邮箱", "Contact e-mail"),
    ("contact_phone", "联系电话", "Contact phone"),
    ("account_manager", "客户经理", "Account manager"),
    (
        "notice_hint",
        "生成整改通知（纯文本，生成记录写入审计日志）",
        "Generate the rectification notice (plain text; recorded in the audit log)",
    ),
    (
        "read_only",
        "只读账号，不能操作。",
        "Read-only account: no actions.",
    ),
    ("site_page", "站点", "Site"),
    ("domains", "域名", "Domains"),
    ("in_inventory", "在册", "In inventory"),
    ("yes", "是", "yes"),
    ("no", "否", "no"),
    ("last_crawl", "最近抓取", "Last crawl"),
    ("next_due", "下次抓取", "Next crawl"),
    ("crawls", "最近抓取记录", "Recent crawls"),
    ("started", "开始", "Started"),
    ("finished", "结束", "Finished"),
    ("outcome", "结果", "Outcome"),
    ("new_flags", "新增", "New"),
    ("resolved_flags", "已解决", "Resolved"),
    ("open_flags", "未结告警", "Active flags"),
    ("error", "出错了", "Something went wrong"),
    (
        "once_wrong",
        "这个一次性登录链接无效。请使用守护进程启动时打印的链接。",
        "This one-time login link is not valid. Use the link the daemon printed when it started.",
    ),
    (
        "once_used",
        "这个一次性登录链接已经用过了。重启守护进程可得到新的链接，或用 sitepatrol token new 创建令牌。",
        "This one-time login link was used already. Restart the daemon for a new one, or make a token with `sitepatrol token new`.",
    ),
    (
        "once_expired",
        "这个一次性登录链接已过期（24 小时内有效）。重启守护进程可得到新的链接。",
        "This one-time login link has expired (it works for 24 hours). Restart the daemon for a new one.",
    ),
    (
        "once_superseded",
        "守护进程重启后打印了新的链接，这个旧链接已失效。",
        "The daemon printed a newer link when it restarted; this older one no longer works.",
    ),
    (
        "once_remote",
        "一次性登录链接只能在运行守护进程的本机（回环地址）上打开，除非配置了 api.once_login_from。",
        "The one-time login link works only on the machine the daemon runs on (a loopback address), unless api.once_login_from allows your address.",
    ),
    ("recrawl", "立即重新巡查", "Recrawl now"),
    ("back", "返回队列", "Back to the queue"),
    ("forbidden", "没有权限。", "Not allowed."),
    ("not_found", "页面不存在。", "Not found."),
    ("state_open", "待审", "open"),
    ("state_confirmed", "已确认", "confirmed"),
    ("state_dismissed", "已驳回", "dismissed"),
    ("state_resolved", "已解决", "resolved"),
    ("state_reopened", "重新打开", "reopened"),
    ("severity_info", "提示", "info"),
    ("severity_low", "低", "low"),
    ("severity_medium", "中", "medium"),
    ("severity_high", "高", "high"),
    ("severity_critical", "严重", "critical"),
    ("kind_state", "状态变更", "state change"),
    ("kind_assign", "指派", "assignment"),
    ("kind_comment", "备注", "comment"),
    ("kind_join", "新增页面", "page added"),
    ("state_overdue", "已逾期", "overdue"),
    ("state_rectified", "已整改", "rectified"),
    // The case report (`/reports`).
    ("reports", "报表", "Reports"),
    ("case_report", "案件报表", "Case report"),
    ("period_from", "起始（含）", "From (included)"),
    ("period_to", "截止（不含）", "To (excluded)"),
    ("report_period", "统计期间", "Period"),
    ("whole_fleet", "全部客户", "Whole fleet"),
    ("download_csv", "下载 CSV", "Download CSV"),
    ("sites_patrolled", "巡查站点数", "Sites patrolled"),
    ("pages_scanned", "扫描页面数", "Pages scanned"),
    ("r_opened", "新立案", "Opened"),
    ("r_confirmed", "确认", "Confirmed"),
    ("r_rectified", "整改完成", "Rectified"),
    ("r_resolved", "自行消失", "Resolved"),
    ("r_dismissed", "驳回", "Dismissed"),
    ("r_overdue", "发现逾期", "Found overdue"),
    ("r_open_at_end", "期末未结", "Open at end"),
    ("r_overdue_at_end", "期末逾期", "Overdue at end"),
    (
        "r_to_confirm",
        "确认用时（中位数）",
        "Median time to confirm",
    ),
    (
        "r_to_rectify",
        "整改用时（中位数）",
        "Median time to rectify",
    ),
    ("total", "合计", "Total"),
    (
        "no_report_cases",
        "该期间内没有案件变动，期末也没有未结案件。",
        "No case changed in this period and none was open at its end.",
    ),
    (
        "report_definitions",
        "按案件事件统计：某状态的数字是期间内进入该状态的案件数（每个案件计一次），与立案时间无关；期末未结/逾期按截止时刻的状态计，已确认且超过整改期限的也算逾期。确认用时：立案到首次确认；整改用时：首次确认到整改完成。巡查站点数与扫描页面数来自期间内结束的巡查。",
        "Counted from the case events: each state's figure is the cases that entered it in the period (each case once), whenever they were opened; open and overdue at end are the states at the end of the period, a confirmed case past its deadline counting as overdue. Time to confirm: opening to first confirmation; time to rectify: first confirmation to rectification. Sites and pages come from the crawls that finished in the period.",
    ),
    ("cases_queue", "案件队列", "Cases"),
    ("case", "案件", "Case"),
    ("summary", "概况", "Summary"),
    ("pages", "涉及页面", "Pages"),
    ("flags_count", "条告警", "flags"),
    ("first_seen", "首次发现", "First seen"),
    ("last_seen", "最近发现", "Last seen"),
    ("deadline", "整改期限", "Deadline"),
    ("deadline_days", "整改期限（天）", "Deadline (days)"),
    ("overdue_only", "仅逾期", "Overdue only"),
    ("by_state", "按状态", "By state"),
    ("flags_queue", "告警明细", "All flags"),
    ("top_signals", "主要证据", "Strongest evidence"),
    ("case_pages", "涉及页面及告警", "Pages and their flags"),
    ("no_cases", "没有符合条件的案件。", "No cases match."),
    (
        "case_shortcuts",
        "一个案件是一个站点在一个类别下的问题，含其所有页面。快捷键：j/k 上下移动，o 打开，c 确认，d 驳回（需填写理由）",
        "A case is one site's problem in one category, with all its pages. Shortcuts: j/k move, o open, c confirm, d dismiss (asks for the reason)",
    ),
];

/// The table for one language, as templates see it.
pub fn messages(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    MESSAGES
        .iter()
        .map(|(key, zh, en)| (*key, if lang == Lang::Zh { *zh } else { *en }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_unique_and_has_both_languages() {
        let mut seen = std::collections::HashSet::new();
        for (key, zh, en) in MESSAGES {
            assert!(seen.insert(key), "{key} twice");
            assert!(!zh.trim().is_empty() && !en.trim().is_empty(), "{key}");
        }
    }

    #[test]
    fn every_key_the_templates_name_exists() {
        let keys: std::collections::HashSet<&str> = MESSAGES.iter().map(|m| m.0).collect();
        let pattern = regex::Regex::new(r"\bt\.([a-z0-9_]+)").unwrap();
        for (name, text) in super::super::TEMPLATES {
            for capture in pattern.captures_iter(text) {
                assert!(keys.contains(&capture[1]), "{name} names t.{}", &capture[1]);
            }
        }
    }
}
