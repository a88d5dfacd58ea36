"""placeholder while developing"""
KEY = "provision"
TITLE = "provision"
FLOOR = "x"
NEEDS_FLEET = False
def methods(ctx, n):
    return []
