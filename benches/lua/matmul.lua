-- benches/kernels/matmul.fasm: c = a * b for n x n Float matrices stored
-- flat (row-major); the sum of c's elements plus its last one.
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(n)
  local a, b, c = {}, {}, {}
  for i = 0, n * n - 1 do
    a[i + 1] = (i % 7) * 0.37 + -1.1
    b[i + 1] = (i % 5) * 0.23 + 0.51
  end
  local total = 0.0
  for i = 0, n - 1 do
    for j = 0, n - 1 do
      local s = 0.0
      for k = 0, n - 1 do
        s = s + a[i * n + k + 1] * b[k * n + j + 1]
      end
      c[#c + 1] = s
      total = total + s
    end
  end
  return total + c[n * n]
end
return kernel
]])
