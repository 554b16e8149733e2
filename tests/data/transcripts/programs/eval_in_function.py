def compute():
    return eval("2 + 3")


print(compute())
