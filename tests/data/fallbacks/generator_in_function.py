def outer():
    def inner():
        yield eval("2+3")

    return list(inner())


print(outer())
