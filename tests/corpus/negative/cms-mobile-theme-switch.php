<?php
/**
 * Theme switcher: phones get the mobile theme, crawlers get the desktop theme so that the
 * canonical pages are indexed, and Baidu gets the mobile-agent meta for its mobile index.
 */
function site_is_crawler() {
    $ua = isset($_SERVER['HTTP_USER_AGENT']) ? strtolower($_SERVER['HTTP_USER_AGENT']) : '';
    foreach (array('googlebot', 'baiduspider', 'bingbot', 'sogou', '360spider', 'yisouspider') as $bot) {
        if (strpos($ua, $bot) !== false) {
            return true;
        }
    }
    return false;
}

function site_is_mobile() {
    $ua = isset($_SERVER['HTTP_USER_AGENT']) ? $_SERVER['HTTP_USER_AGENT'] : '';
    return (bool) preg_match('/iphone|ipod|android.*mobile|windows phone|mobile safari/i', $ua);
}

if (site_is_crawler()) {
    $theme = 'desktop';
    $stats->count('crawler_visit', $_SERVER['REQUEST_URI']);
} elseif (site_is_mobile() && empty($_COOKIE['force_desktop'])) {
    header('Location: https://m.' . $site_domain . $_SERVER['REQUEST_URI'], true, 302);
    exit;
} else {
    $theme = 'desktop';
}

if (!empty($_SERVER['HTTP_REFERER']) && stripos($_SERVER['HTTP_REFERER'], 'baidu.com') !== false) {
    $stats->count('from_baidu');
}
include __DIR__ . '/themes/' . $theme . '/header.php';
?>
<meta name="mobile-agent" content="format=html5;url=https://m.<?php echo htmlspecialchars($site_domain); ?>/">
