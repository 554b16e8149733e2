import os, socket

print(os.getcwd() != "", socket.gethostname() != "")
