from math import sqrt, isqrt

print(isqrt(10), sqrt(4.0) == 2.0)
