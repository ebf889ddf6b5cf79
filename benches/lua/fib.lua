-- benches/kernels/fib.fasm: recursive Fibonacci.
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
return fib
]])
