from socket import (
    gethostname,
    AF_INET as inet,
)

print(gethostname() != "", inet)
