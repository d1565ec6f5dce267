"""The web app `floodwatch run` serves: Twilio's webhooks (answers by SMS, keypresses, status
callbacks) and the acknowledgement API. `create_app` builds it; `WebServer` runs it."""
