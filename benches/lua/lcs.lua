-- benches/kernels/lcs.fasm: longest common subsequence of two n-element
-- arrays (x = (x * 75 + 74) % 65537, element x % 20) over one flat table.
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(n)
  local a, b, dp = {}, {}, {}
  local x = 1
  for i = 0, 2 * n - 1 do
    x = (x * 75 + 74) % 65537
    if i < n then a[i + 1] = x % 20 else b[i - n + 1] = x % 20 end
  end
  local w = n + 1
  for k = 1, w * w do dp[k] = 0 end
  for i = 1, n do
    local row, prev = i * w, (i - 1) * w
    for j = 1, n do
      local v
      if a[i] == b[j] then
        v = dp[prev + j - 1 + 1] + 1
      else
        local up, left = dp[prev + j + 1], dp[row + j - 1 + 1]
        v = up
        if up < left then v = left end
      end
      dp[row + j + 1] = v
    end
  end
  return dp[n * w + n + 1]
end
return kernel
]])
