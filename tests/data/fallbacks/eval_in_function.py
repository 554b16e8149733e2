def f():
    return eval("2+3")


print(f())
