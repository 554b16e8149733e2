def f(x):
    if x > 2:
        raise ValueError("bad value: " + str(x))
    return x
print("start")
for i in range(5):
    print(f(i))
