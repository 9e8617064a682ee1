"""Validation reports for people: labels, dates, the HTML page and the PDF, Persian first, English beside."""
