<?php
// 支付宝异步通知：记录原始通知，验签后更新订单
require_once "config.php";
require_once "lib/alipay_notify.class.php";
file_put_contents(__DIR__ . "/logs/notify-" . date("Ymd") . ".log", date("c") . " " . json_encode($_POST) . "\n", FILE_APPEND);
$notify = new AlipayNotify($alipay_config);
if ($notify->verifyNotify()) {
    $out_trade_no = $_POST['out_trade_no'];
    $trade_status = $_POST['trade_status'];
    if ($trade_status == 'TRADE_SUCCESS') {
        $db->prepare("UPDATE orders SET paid = 1 WHERE no = ?")->execute(array($out_trade_no));
    }
    echo "success";
} else {
    echo "fail";
}
