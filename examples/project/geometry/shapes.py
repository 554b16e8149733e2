def area(width: float, height: float) -> float:
    return width * height


def describe(width: float, height: float) -> str:
    return "area " + area(width, height)
