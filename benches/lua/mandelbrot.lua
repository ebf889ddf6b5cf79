-- benches/kernels/mandelbrot.fasm: points of a size x size grid over
-- [-2, 1) x [-1, 1) that stay bounded for max_iter iterations.
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(size, max_iter)
  local count, py = 0, 0
  while py < size do
    local y0 = py * 0.01 - 1.0
    local px = 0
    while px < size do
      local x0 = px * 0.015 - 2.0
      local x, y, iter = 0.0, 0.0, 0
      while iter < max_iter and x * x + y * y <= 4.0 do
        local xt = x * x - y * y + x0
        y = 2.0 * x * y + y0
        x = xt
        iter = iter + 1
      end
      if iter == max_iter then count = count + 1 end
      px = px + 1
    end
    py = py + 1
  end
  return count
end
return kernel
]])
