"""Flask application factory and blueprints (api, agent, pages)."""
