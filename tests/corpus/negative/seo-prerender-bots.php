<?php
/*
 * Dynamic rendering for a single-page app: crawlers that cannot run JavaScript get the
 * prerendered HTML of the same URL (see Google's "dynamic rendering" guide); people get the app.
 * Not cloaking: both see the same content.
 */
$botPattern = '/googlebot|bingbot|baiduspider|yandex|duckduckbot|slurp|twitterbot|facebookexternalhit|linkedinbot/i';
$ua = isset($_SERVER['HTTP_USER_AGENT']) ? $_SERVER['HTTP_USER_AGENT'] : '';
$isBot = preg_match($botPattern, $ua) || isset($_GET['_escaped_fragment_']);

if ($isBot) {
    $url = 'https://' . $_SERVER['HTTP_HOST'] . $_SERVER['REQUEST_URI'];
    $ch = curl_init('https://service.prerender.io/' . $url);
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
    curl_setopt($ch, CURLOPT_HTTPHEADER, array('X-Prerender-Token: ' . getenv('PRERENDER_TOKEN')));
    $html = curl_exec($ch);
    $code = curl_getinfo($ch, CURLINFO_HTTP_CODE);
    curl_close($ch);
    if ($code == 200 && $html) {
        echo $html;
        exit;
    }
}
readfile(__DIR__ . '/dist/index.html');
