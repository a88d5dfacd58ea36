"""placeholder while developing"""
KEY = "deploy"
TITLE = "deploy"
FLOOR = "x"
NEEDS_FLEET = False
def methods(ctx, n):
    return []
