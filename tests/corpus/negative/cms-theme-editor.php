<?php
// 后台：模板编辑器，保存后回到编辑页
require "../inc/admin_auth.php";
$file = basename($_GET['f']);
$path = "../templates/default/" . $file;
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    file_put_contents($path, $_POST['content']);
    file_put_contents("../logs/admin.log", date("c") . " " . $_SESSION['admin'] . " saved " . $file . "\n", FILE_APPEND);
    header("Location: theme_edit.php?f=" . urlencode($file) . "&saved=1");
    exit;
}
if (!is_file($path)) {
    header("HTTP/1.0 404 Not Found");
    exit("template not found");
}
?>
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>模板编辑 - 后台管理</title></head>
<body><form method="post"><textarea name="content"><?php echo htmlspecialchars(file_get_contents($path)); ?></textarea><button>保存</button></form></body></html>
