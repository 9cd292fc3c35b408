<?php
session_start();
require "inc/db.php";
if (isset($_POST['username'], $_POST['password'])) {
    $stmt = $pdo->prepare("SELECT id, pass_hash FROM members WHERE username = ?");
    $stmt->execute(array($_POST['username']));
    $row = $stmt->fetch();
    if ($row && password_verify($_POST['password'], $row['pass_hash'])) {
        $_SESSION['uid'] = $row['id'];
        file_put_contents("logs/login.log", date("c") . " ok " . $_POST['username'] . "\n", FILE_APPEND);
        header("Location: member/index.php");
        exit;
    }
    $error = "用户名或密码错误";
}
?>
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>会员登录 - 某某科技</title></head>
<body>
<form method="post"><input name="username" placeholder="用户名"><input type="password" name="password" placeholder="密码"><button>登录</button></form>
<p>其他方式登录：<a href="/oauth/qq">QQ登录</a> <a href="/oauth/wechat">微信登录</a></p>
</body></html>
