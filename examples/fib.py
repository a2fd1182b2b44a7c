def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    

def main() -> None:
    print(fibonacci(10))
