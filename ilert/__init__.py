"""Talking to ilert: the OAuth2 steps of ilert's guide (`oauth`), the one way views call the
API for the signed-in person (`client`), and ilert's scopes in words (`scopes`)."""
