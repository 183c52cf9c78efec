"""Inside WeChat at 390x844 (issue 11): a newcomer is logged in through the (fake) WeChat authorize
pages without typing anything, redeems a points + cash product and pays it through the (fake)
WeChat Pay sheet; the order is paid when the member comes back."""
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Order, UserIdentity
from tests.fake_wechat import APP_ID, APP_SECRET, FakeWeChat
from tests.fake_wechatpay import APIV3_KEY, CERT_SERIAL_NO, MCHID, PUBLIC_KEY_ID, FakeWeChatPay
from tests.shop_factories import make_product, no_newbie_bonus  # noqa: F401  (fixtures)

WX_UA = "Mozilla/5.0 (Linux; Android 13; Pixel 7) Mobile Safari/537.36 MicroMessenger/8.0.50.2701 NetType/WIFI"
# WeChat's in-app bridge, as the pay sheet answers when the member pays; records what it was given.
BRIDGE = """
window.WeixinJSBridge = {
  on: function () {},
  invoke: function (name, params, done) {
    if (name === "getBrandWCPayRequest") { window.__paidWith = params; }
    if (done) { done({ err_msg: name + ":ok" }); }
  }
};
"""


@pytest.fixture()
def wechat_everywhere(app, live_server, tmp_path):
    oauth, pay = FakeWeChat().start(), FakeWeChatPay().start()
    merchant_key, platform_key = pay.write_keys(tmp_path)
    values = dict(WECHAT_APP_ID=APP_ID, WECHAT_APP_SECRET=APP_SECRET, WECHAT_API_BASE=oauth.url,
                  WECHAT_OPEN_BASE=oauth.url, PAYMENT_PROVIDER="wechat", WECHATPAY_MCHID=MCHID,
                  WECHATPAY_CERT_SERIAL_NO=CERT_SERIAL_NO, WECHATPAY_PRIVATE_KEY_PATH=merchant_key,
                  WECHATPAY_APIV3_KEY=APIV3_KEY, WECHATPAY_PUBLIC_KEY_PATH=platform_key,
                  WECHATPAY_PUBLIC_KEY_ID=PUBLIC_KEY_ID, WECHATPAY_API_BASE=pay.url,
                  SITE_URL=live_server)  # WeChat sends the browser back to the OAuth callback on SITE_URL
    saved = {key: app.config[key] for key in values}
    app.config.update(values)
    yield oauth, pay
    app.config.update(saved)
    oauth.stop()
    pay.stop()


def test_a_newcomer_logs_in_through_wechat_and_pays_points_plus_cash(app, browser, live_server, wechat_everywhere,
                                                                    make_product, no_newbie_bonus, screenshot_dir):
    oauth, pay = wechat_everywhere
    oauth.state.add_user("o-browser", nickname="小微")
    oauth.state.next_openid = "o-browser"
    product_id = make_product(name="电影票", kind="coupon", points_price=100, cash_fen=1990)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", base_url=live_server,
                                  user_agent=WX_UA)
    context.add_init_script(BRIDGE)
    page = context.new_page()
    page.set_default_timeout(15000)

    page.goto("/me", wait_until="domcontentloaded")    # not logged in: WeChat's pages, twice for a newcomer
    assert page.url.split("#")[0] == f"{live_server}/me", page.url  # (browsers keep WeChat's #wechat_redirect)
    assert "小微" in page.content()
    with app.app_context():
        assert db.session.execute(select(UserIdentity.user_id).where(UserIdentity.openid == "o-browser")).scalar()
        db.session.remove()

    page.goto(f"/products/{product_id}")
    assert page.locator("script[data-wx-config]").count() == 1   # the JS-SDK is configured on the page
    page.click("[data-testid=redeem-submit]")
    page.click("[data-testid=redeem-confirm]")
    page.locator("[data-testid=redeem-ok]").get_by_role("link", name="去支付").click()  # a full page load
    page.wait_for_url("**/orders/*")
    button = page.locator("[data-testid=wechat-pay-button]")
    assert "微信支付 ¥19.90" in button.inner_text()
    if screenshot_dir:
        page.screenshot(path=f"{screenshot_dir}/wechat-pay.png", full_page=True)
    with app.app_context():
        order = db.session.execute(select(Order).order_by(Order.id.desc())).scalars().first()
        order_id, out_trade_no = order.id, order.payment.out_trade_no
        db.session.remove()
    pay.pay(out_trade_no)                              # the member pays in WeChat's sheet; no notification yet
    with page.expect_navigation(url=f"**/orders/{order_id}"):
        button.click()                                 # the pay sheet says ok; back through pay/return
    assert "支付成功" in page.content()
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.status == "completed" and order.payment.status == "succeeded"
        db.session.remove()
    context.close()
