# A syntax error after non-ASCII text: its column counts code points.
x = "é漢😀" +)
