def f(x):
    return x.missing


print(f(1))
print(f("a"))
