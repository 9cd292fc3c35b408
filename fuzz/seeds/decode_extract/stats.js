B// site statistics
(function(){
  document.write(unescape('%3Cscript src="http://stat.example.test/s.js"%3E%3C/script%3E'));
})();
