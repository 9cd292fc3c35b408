<?php
// 简单留言板：把留言追加到 data/messages.txt，再回到留言列表
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $name = str_replace("|", " ", trim($_POST['name']));
    $text = str_replace(array("|", "\n"), " ", trim($_POST['message']));
    if ($name !== '' && $text !== '') {
        $fp = fopen("data/messages.txt", "a");
        fwrite($fp, date("Y-m-d H:i") . "|" . $name . "|" . $text . "\n");
        fclose($fp);
    }
    header("Location: guestbook.php");
    exit;
}
?>
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>留言板 - 某某社区</title></head>
<body>
<h1>留言板</h1>
<form method="post"><input name="name" placeholder="昵称"><textarea name="message" placeholder="说点什么"></textarea><button>提交</button></form>
</body></html>
