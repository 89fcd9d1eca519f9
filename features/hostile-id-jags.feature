@authorization-server @hostile
Feature: The MCP authorization server refuses ID-JAGs the specifications forbid
  Each ID-JAG below is one the issuer minted, re-signed with the issuer's own key after one
  change, so that change is its only defect. A control comes first: the same kind of
  token, re-signed unchanged, is accepted, so a refusal cannot come from anything else.

  Background:
    Given the user "alice" has signed in with the client

  @must
  Scenario Outline: An <alg> ID-JAG re-signed with <change> is refused
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "oauth-id-jag+jwt"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with <change>
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant"

    @AS-06
    Examples: explicit typing (RFC 8725 §3.11)
      | alg   | change |
      | EdDSA | typ "JWT" |
      | RS256 | typ "JWT" |
      | ES256 | typ "JWT" |
      | EdDSA | typ "at+jwt" |
      | RS256 | typ "at+jwt" |
      | ES256 | typ "at+jwt" |
      | EdDSA | no typ |
      | RS256 | no typ |
      | ES256 | no typ |

    @AS-08
    Examples: a trusted issuer
      | alg   | change |
      | EdDSA | its "iss" claim set to "https://evil.example" |
      | RS256 | its "iss" claim set to "https://evil.example" |
      | ES256 | its "iss" claim set to "https://evil.example" |

    @AS-09 @D10
    Examples: the audience is this authorization server's issuer, exactly
      | alg   | change |
      | EdDSA | its "aud" claim set to "https://as.other.example" |
      | RS256 | its "aud" claim set to "https://as.other.example" |
      | ES256 | its "aud" claim set to "https://as.other.example" |
      | EdDSA | a second audience "https://as.other.example" |
      | RS256 | a second audience "https://as.other.example" |
      | ES256 | a second audience "https://as.other.example" |
      | EdDSA | its audience followed by a slash |
      | RS256 | its audience followed by a slash |
      | ES256 | its audience followed by a slash |

    @AS-10
    Examples: client_id is the authenticated client
      | alg   | change |
      | EdDSA | its "client_id" claim set to "someone-else" |
      | RS256 | its "client_id" claim set to "someone-else" |
      | ES256 | its "client_id" claim set to "someone-else" |

    @AS-13
    Examples: not expired
      | alg   | change |
      | EdDSA | its "exp" claim 400 seconds before its "iat" claim |
      | RS256 | its "exp" claim 400 seconds before its "iat" claim |
      | ES256 | its "exp" claim 400 seconds before its "iat" claim |

    @AS-14
    Examples: not issued or valid in the future
      | alg   | change |
      | EdDSA | its "iat" claim 400 seconds after its "iat" claim |
      | RS256 | its "iat" claim 400 seconds after its "iat" claim |
      | ES256 | its "iat" claim 400 seconds after its "iat" claim |
      | EdDSA | its "nbf" claim 400 seconds after its "iat" claim |
      | RS256 | its "nbf" claim 400 seconds after its "iat" claim |
      | ES256 | its "nbf" claim 400 seconds after its "iat" claim |

    @AS-07
    Examples: no signature (RFC 8725 §3.1: never accept alg none)
      | alg   | change |
      | EdDSA | no signature and alg "none" |
      | RS256 | no signature and alg "none" |
      | ES256 | no signature and alg "none" |
      | EdDSA | no signature and alg "None" |
      | RS256 | no signature and alg "None" |
      | ES256 | no signature and alg "None" |
      | EdDSA | no signature and alg "NONE" |
      | RS256 | no signature and alg "NONE" |
      | ES256 | no signature and alg "NONE" |
      | EdDSA | no signature and alg "nOnE" |
      | RS256 | no signature and alg "nOnE" |
      | ES256 | no signature and alg "nOnE" |

    @AS-07
    Examples: an HMAC keyed with the public key (RFC 8725 §2.1, the key-confusion attack)
      | alg   | change |
      | EdDSA | HS256 keyed with the issuer's public key as JWK |
      | RS256 | HS256 keyed with the issuer's public key as JWK |
      | ES256 | HS256 keyed with the issuer's public key as JWK |
      | EdDSA | HS256 keyed with the issuer's public key as PEM |
      | RS256 | HS256 keyed with the issuer's public key as PEM |
      | ES256 | HS256 keyed with the issuer's public key as PEM |

    @AS-07
    Examples: the pinned algorithm only, even with a published key
      | alg   | change |
      | RS256 | the issuer's EdDSA key |
      | ES256 | the issuer's EdDSA key |
      | EdDSA | the issuer's RS256 key |
      | ES256 | the issuer's RS256 key |
      | EdDSA | the issuer's ES256 key |
      | RS256 | the issuer's ES256 key |

    @AS-07 @AS-31
    Examples: keys the issuer never published
      | alg   | change |
      | EdDSA | an unknown kid |
      | RS256 | an unknown kid |
      | ES256 | an unknown kid |
      | EdDSA | a key the issuer never published |
      | RS256 | a key the issuer never published |
      | ES256 | a key the issuer never published |
      | EdDSA | its "kid" header set to "../../../../../../dev/null" |
      | RS256 | its "kid" header set to "../../../../../../dev/null" |
      | ES256 | its "kid" header set to "../../../../../../dev/null" |
      | EdDSA | a key of its own embedded as "jwk" |
      | RS256 | a key of its own embedded as "jwk" |
      | ES256 | a key of its own embedded as "jwk" |

    @AS-07
    Examples: a signature over exactly this header and payload (RFC 7515 §5.2)
      | alg   | change |
      | EdDSA | its payload changed after signing |
      | RS256 | its payload changed after signing |
      | ES256 | its payload changed after signing |
      | EdDSA | an unknown critical header |
      | RS256 | an unknown critical header |
      | ES256 | an unknown critical header |

    @AS-07
    Examples: a key the token carries or points at (RFC 8725 §3.10)
      | alg   | change |
      | EdDSA | a key of its own published at "jku" |
      | RS256 | a key of its own published at "jku" |
      | ES256 | a key of its own published at "jku" |
      | EdDSA | a certificate of its own embedded as "x5c" |
      | RS256 | a certificate of its own embedded as "x5c" |
      | ES256 | a certificate of its own embedded as "x5c" |
      | EdDSA | a certificate of its own published at "x5u" |
      | RS256 | a certificate of its own published at "x5u" |
      | ES256 | a certificate of its own published at "x5u" |

    @AS-06 @AS-09
    Examples: the subject token presented as the assertion
      | alg   | change |
      | EdDSA | the shape of an ID token |
      | RS256 | the shape of an ID token |
      | ES256 | the shape of an ID token |

    @AS-05 @IDP-21
    Examples: every required claim
      | alg   | change |
      | EdDSA | its "sub" claim removed |
      | RS256 | its "sub" claim removed |
      | ES256 | its "sub" claim removed |
      | EdDSA | its "jti" claim removed |
      | RS256 | its "jti" claim removed |
      | ES256 | its "jti" claim removed |
      | EdDSA | its "exp" claim removed |
      | RS256 | its "exp" claim removed |
      | ES256 | its "exp" claim removed |
      | EdDSA | its "iat" claim removed |
      | RS256 | its "iat" claim removed |
      | ES256 | its "iat" claim removed |
      | EdDSA | its "client_id" claim removed |
      | RS256 | its "client_id" claim removed |
      | ES256 | its "client_id" claim removed |
      | EdDSA | its "aud" claim removed |
      | RS256 | its "aud" claim removed |
      | ES256 | its "aud" claim removed |
      | EdDSA | its "iss" claim removed |
      | RS256 | its "iss" claim removed |
      | ES256 | its "iss" claim removed |


  @AS-18 @D3 @must
  Scenario Outline: An <alg> ID-JAG naming a resource of another authorization server is refused
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "oauth-id-jag+jwt"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with a resource of another authorization server
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant", or "invalid_target" as a warning

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @AS-21 @should
  Scenario Outline: An <alg> ID-JAG with a scope its MCP server does not define is refused
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "oauth-id-jag+jwt"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with its "scope" claim set to "mail.read"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is refused with HTTP 400 and OAuth error "invalid_grant"

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @AS-05 @must
  Scenario Outline: An oversized <alg> ID-JAG is refused
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "oauth-id-jag+jwt"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with a claim padding it to 100000 bytes
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is refused

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |

  @AS-07 @must
  Scenario Outline: Wycheproof's invalid <alg> signatures over a real ID-JAG are refused
    Given the target offers the <alg> server
    When the client requests an ID-JAG for it
    And the ID-JAG is re-signed with typ "oauth-id-jag+jwt"
    And the ID-JAG is redeemed at its authorization server
    Then the redemption is granted
    When the client requests an ID-JAG for it
    And each Wycheproof signature case of the ID-JAG is redeemed at its authorization server
    Then every invalid case is refused, and an acceptable one that is accepted is a warning

    Examples:
      | alg   |
      | EdDSA |
      | RS256 |
      | ES256 |
