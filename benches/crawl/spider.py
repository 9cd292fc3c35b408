"""Scrapy baseline for the crawl benchmark: follow every a/area href and frame/iframe src,
decode every page (response.text), nothing else."""
import scrapy


class AllLinks(scrapy.Spider):
    name = "all_links"
    custom_settings = {"ROBOTSTXT_OBEY": False, "LOG_LEVEL": "WARNING"}

    def __init__(self, start=None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.start_urls = [start]
        self.allowed_domains = ["127.0.0.1"]

    def parse(self, response):
        if not hasattr(response, "text"):
            return
        _ = response.text
        for href in response.css("a::attr(href), area::attr(href), frame::attr(src), iframe::attr(src)").getall():
            yield response.follow(href, callback=self.parse)
