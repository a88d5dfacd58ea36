"""placeholder while developing"""
KEY = "converge"
TITLE = "converge"
FLOOR = "x"
NEEDS_FLEET = False
def methods(ctx, n):
    return []
