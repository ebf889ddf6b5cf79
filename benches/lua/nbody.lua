-- benches/kernels/nbody.fasm: 5 bodies in arrays, `steps` steps of 0.001
-- with pairwise gravity, then the system's energy.
dofile((arg[0]:match("(.*/)") or "./") .. "harness.lua")([[
local function kernel(steps)
  local x, y, z, vx, vy, vz, m = {}, {}, {}, {}, {}, {}, {}
  for i = 0, 4 do
    x[i + 1] = i * 1.7 + -3.1
    y[i + 1] = (i % 3) * 0.9 + -0.8
    z[i + 1] = i * 0.13 + (i % 2) * 0.5
    vx[i + 1] = (i % 2) * 0.05 + -0.02
    vy[i + 1] = i * 0.011
    vz[i + 1] = (i % 3) * -0.007
    m[i + 1] = i * 0.005 + 0.01
  end
  local sqrt = math.sqrt
  for _ = 1, steps do
    for i = 1, 5 do
      for j = i + 1, 5 do
        local dx, dy, dz = x[i] - x[j], y[i] - y[j], z[i] - z[j]
        local d2 = dx * dx + dy * dy + dz * dz
        local mag = 0.001 / (d2 * sqrt(d2))
        local mi, mj = m[i] * mag, m[j] * mag
        vx[i] = vx[i] - dx * mj
        vy[i] = vy[i] - dy * mj
        vz[i] = vz[i] - dz * mj
        vx[j] = vx[j] + dx * mi
        vy[j] = vy[j] + dy * mi
        vz[j] = vz[j] + dz * mi
      end
    end
    for i = 1, 5 do
      x[i] = x[i] + 0.001 * vx[i]
      y[i] = y[i] + 0.001 * vy[i]
      z[i] = z[i] + 0.001 * vz[i]
    end
  end
  local e = 0.0
  for i = 1, 5 do
    e = e + 0.5 * m[i] * (vx[i] * vx[i] + vy[i] * vy[i] + vz[i] * vz[i])
    for j = i + 1, 5 do
      local dx, dy, dz = x[i] - x[j], y[i] - y[j], z[i] - z[j]
      local d2 = dx * dx + dy * dy + dz * dz
      e = e - m[i] * m[j] / sqrt(d2)
    end
  end
  return e
end
return kernel
]])
