-- Review API reads, paced: each connection waits DELAY_MS between requests, so the rate is
-- about connections * 1000 / DELAY_MS. Alternates the flag list and single flags.
local token = os.getenv("TOKEN")
local delay_ms = tonumber(os.getenv("DELAY_MS"))
local ids = {}
for id in string.gmatch(os.getenv("IDS"), "%d+") do ids[#ids + 1] = id end
local n = 0
local headers = { ["Authorization"] = "Bearer " .. token }

request = function()
  n = n + 1
  if n % 2 == 0 then
    return wrk.format("GET", "/api/v1/flags?limit=50", headers)
  end
  return wrk.format("GET", "/api/v1/flags/" .. ids[(n % #ids) + 1], headers)
end

delay = function() return delay_ms end
