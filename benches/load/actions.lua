-- Review actions, paced as reads.lua: comments on the flags round-robin (a comment is always
-- allowed, so every answer should be 200 and each writes an audit event).
local token = os.getenv("TOKEN")
local delay_ms = tonumber(os.getenv("DELAY_MS"))
local ids = {}
for id in string.gmatch(os.getenv("IDS"), "%d+") do ids[#ids + 1] = id end
local n = 0
local headers = {
  ["Authorization"] = "Bearer " .. token,
  ["Content-Type"] = "application/json",
}

request = function()
  n = n + 1
  local body = '{"text":"load test comment ' .. n .. '"}'
  return wrk.format("POST", "/api/v1/flags/" .. ids[(n % #ids) + 1] .. "/comment", headers, body)
end

delay = function() return delay_ms end
