<?php
// Contact form: mail every field to the office, then thank the visitor.
$to = "office@example.cn";
$body = "";
foreach ($_POST as $key => $value) {
    $body .= ucfirst($key) . ": " . strip_tags($value) . "\n";
}
$body .= "IP: " . $_SERVER['REMOTE_ADDR'] . "\n";
mail($to, "Website enquiry", $body, "From: web@example.cn");
header("Location: thanks.html");
exit;
