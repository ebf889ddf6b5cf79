-- benches/kernels/matmul_rows.fasm: c = a * b for n x n Float matrices kept
-- as tables of rows; the sum of c's elements plus c[n][n].
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(n)
  local a, b, c = {}, {}, {}
  for i = 0, n - 1 do
    local ra, rb = {}, {}
    for j = 0, n - 1 do
      local idx = i * n + j
      ra[j + 1] = (idx % 7) * 0.37 + -1.1
      rb[j + 1] = (idx % 5) * 0.23 + 0.51
    end
    a[i + 1], b[i + 1] = ra, rb
  end
  local total = 0.0
  for i = 1, n do
    local ai, rc = a[i], {}
    for j = 1, n do
      local s = 0.0
      for k = 1, n do
        s = s + ai[k] * b[k][j]
      end
      rc[j] = s
      total = total + s
    end
    c[i] = rc
  end
  return total + c[n][n]
end
return kernel
]])
