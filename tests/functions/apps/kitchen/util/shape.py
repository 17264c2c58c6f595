"""A helper module (no functions): imported relatively by function files."""


def summary(doc):
    return {"author": doc["author"], "body": doc["body"]}
