�<%@ LANGUAGE="VBSCRIPT" CODEPAGE="936" %>
<html><head><meta charset="gb2312"><title>欢迎</title></head><body>
<% ' comment "x"
Response.Write "<div style=""display:none""><a href=""http://casino.test/"">赌场</a></div>" %>
<%-- <iframe src="x"> --%><script runat="server">Sub F() : End Sub</script>
<#if x??>${x}</#if><p>本公司</p></body></html>